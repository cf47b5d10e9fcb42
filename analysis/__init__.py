"""What scientists do with trained models: Tc, finite-size scaling, equivariance, filters, RG."""
