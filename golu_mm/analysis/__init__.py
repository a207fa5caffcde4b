"""Comparing activations: aggregating sweep results, and the plots of the paper's arguments."""
from .comparison import aggregate, write_table
from .plots import plot_activation_distributions, plot_activation_functions

__all__ = ['aggregate', 'write_table', 'plot_activation_functions',
           'plot_activation_distributions']
