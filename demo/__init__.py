"""The `make demo` shop: an app, its simulated visitors, and the run that ties them up."""
