"""The puzzle job: CRTR encoders for the Rubik's Cube and Sokoban."""
