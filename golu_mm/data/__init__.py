"""Embedded demo data: synthetic scenes in COCO instance and ADE-style semantic formats, and
single-shape images for classification pretraining."""
from .synthetic import CLASSES, PALETTE, config_options, generate, generate_classification

__all__ = ['CLASSES', 'PALETTE', 'config_options', 'generate', 'generate_classification']
