"""Run reports for people (HTML, Markdown, e-mail) and their retention."""
