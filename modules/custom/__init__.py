"""Other indicators: choppiness, KAMA, vortex, Fisher, Coppock, Elder-Ray, CMO, DPO, STC,
squeeze momentum, RVI, Connors RSI."""
