"""The operator's dashboard (admin accounts): what the service is doing and what went wrong."""
