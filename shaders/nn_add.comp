#version 450
// Placeholder for the add op (issue 4).
layout(local_size_x = 64) in;
void main() {}
