"""The load benchmark: Inkwell against the framework's and the driver's own limits."""
