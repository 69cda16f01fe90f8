"""Adaptors: one subpackage per system (``http``, ``ftp``, ``s3``, …); none touches the database."""
