"""PDF documents: the CJK fonts found on the machine and the result document a window issues."""
