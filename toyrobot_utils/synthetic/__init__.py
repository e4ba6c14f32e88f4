"""The built-in data set: photo-like pictures of the five toys, generated offline so that the whole series runs
anywhere out of the box (``toyrobot make-data``). ``toy_scene`` draws a scene (floors, camera tilt, light, blur,
noise), ``toy_drawing`` the five toys and the clutter, ``default_data`` the folders, manifest, masks and collage."""
