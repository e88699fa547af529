"""Re-execution of recorded demonstrations and the SDFT training feed."""
