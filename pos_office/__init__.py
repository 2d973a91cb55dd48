"""The back office: reports and charts for managers and owners, in a terminal or a browser."""
