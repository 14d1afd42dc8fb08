"""courier: S3 landing files, bundled, hashed, archived and delivered to NiFi."""

__version__ = "0.1.0"
