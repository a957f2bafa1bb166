"""Storage: tables, the async database session, one repository module per aggregate."""
