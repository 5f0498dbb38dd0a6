"""Certificates of analysis: content, issuing, amendment and withdrawal, search, signing, PDF, public verification."""
