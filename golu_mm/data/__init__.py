"""Embedded demo data: synthetic scenes in COCO instance and ADE-style semantic formats."""
from .synthetic import CLASSES, PALETTE, config_options, generate

__all__ = ['CLASSES', 'PALETTE', 'config_options', 'generate']
