"""ICT / smart-money concepts: market structure, liquidity, order blocks, gaps, kill zones."""
