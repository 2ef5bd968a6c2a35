"""Series queries over a patient's observations: raw pages, time buckets, newest values."""
