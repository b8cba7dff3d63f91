"""Preference data for PanoDPO: ShareGPTVideo-DPO rows, misleading questions, Hub-layout output."""
