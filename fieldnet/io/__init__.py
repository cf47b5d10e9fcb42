"""The file contract: every format fieldnet reads or writes (data, model, predictions files),
atomic writes, and the checks that refuse damaged or foreign files.

It imports nothing of fieldnet but :mod:`fieldnet.errors`: files are read and written as plain
arrays and dictionaries, so any part of the package (and the simulations) can use it.
"""
