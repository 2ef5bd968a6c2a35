"""Thin CLI shells: each module holds one typer app for one command group."""
