"""The communication kit: QR codes, printable PDFs and social images built from the content."""
