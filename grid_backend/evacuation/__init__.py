"""Evacuation (转移避险): moving people out of harm's way. So far: shelters (避险点/安置点)."""
