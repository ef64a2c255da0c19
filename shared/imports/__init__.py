"""Reading approved translations and translation memories from the formats localization teams use."""
