"""City knowledge base: article files, hybrid (BM25 + multilingual embedding) search, calibrated decisions.

See docs/knowledge.md for the article format, the search API and how calibration works.
"""
