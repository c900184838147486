"""analyze_sentiment: a label and score per message, in Spanish and English, and a contact's trend."""
