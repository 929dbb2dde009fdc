"""resellctl: administration of a SaaS vendor's reseller channel."""

__version__ = "0.1.0"
