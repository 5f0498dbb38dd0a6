"""Recyclab LIMS: samples, results, grades and certificates.

Importing this package does not import Flask, so ingest and analytics can use the models
and services; the web app lives in lims.app.
"""
