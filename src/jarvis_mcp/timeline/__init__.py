"""One timeline per contact (issue 13): which memories, conversations, emails, events and calls involved whom."""
