"""cnnlib: the real VGG, GoogLeNet and AlexNet, and the tools the book *Stacks & Branches* uses to inspect and train them."""
