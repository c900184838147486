"""Sign-in to JARVIS: the built-in OAuth 2.1 authorization server, its pages and the identity toolset."""
