"""Support/resistance modules: pivots, Camarilla, Fibonacci retracements, S/R zones."""
