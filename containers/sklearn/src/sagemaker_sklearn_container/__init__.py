"""The emulator's own stand-in for AWS's sagemaker_sklearn_container package."""
