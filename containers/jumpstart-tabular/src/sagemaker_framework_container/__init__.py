"""Script-mode training and serving for the emulator's framework images that run JumpStart scripts
(jumpstart-tabular: the PyTorch 1.9.0 DLC tags of LightGBM/CatBoost and AutoGluon's DLC; pytorch)."""
