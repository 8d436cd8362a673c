"""The Pulumi program for the Job App Tracker's AWS environment (see docs/architecture.md)."""
