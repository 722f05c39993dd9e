"""Shared helpers: input validation, labelled ratings, torch plumbing."""

from .validation import Ratings, check_audio, check_dissimilarity

__all__ = ["Ratings", "check_audio", "check_dissimilarity"]
