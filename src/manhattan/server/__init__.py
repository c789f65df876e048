"""The backend server: manhattan-server and its query service."""
