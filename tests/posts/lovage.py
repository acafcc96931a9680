"""The posts the search tests look for: which of them a search finds, and in which order, is known."""

# Posts that match `lovage`, oldest first: (title, body). Titles that hold the word rank first, then the
# body's occurrences decide (every engine's relevance grows with them), then the newest.
LOVAGE = [
    ("Lovage", "An old title hit."),
    ("Stock", "Lovage in the stock."),
    ("Soup", "Lovage, lovage, lovage and more lovage."),
    ("Salad", "A little lovage."),
    ("Lovage soup", "With potatoes."),
    ("Bread", "Lovage bread, lovage butter."),
    ("Pickles", "Lovage stems."),
    ("Tea", "Lovage tea, lovage honey, lovage lemon, lovage."),
]
