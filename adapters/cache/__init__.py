"""Response caches: in this process's memory, or shared through Redis."""
