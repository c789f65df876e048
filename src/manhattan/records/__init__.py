"""The log record's vocabulary and layout: the bottom layer, standard library only."""
