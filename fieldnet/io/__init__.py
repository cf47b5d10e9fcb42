"""The file contract: every format fieldnet reads or writes (data, model, predictions files),
atomic writes, the checks that refuse damaged or foreign files, the CF-1.x metadata every written
netCDF file carries (:mod:`~fieldnet.io.cf`), and the importers that bring data made by other
code under the data contract (:mod:`~fieldnet.io.importers`).

It imports nothing of fieldnet but :mod:`fieldnet.errors`: files are read and written as plain
arrays and dictionaries, so any part of the package (and the simulations) can use it.
"""
