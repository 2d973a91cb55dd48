"""Reporting invoices and credit notes to FBR's IMS (cloud or the local fiscal component)."""
