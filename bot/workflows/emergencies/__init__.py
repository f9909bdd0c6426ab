"""Emergencies (緊急時対応): declare, pause routine posts, fast-track approval, work the checklist, end."""
