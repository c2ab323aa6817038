namespace Stratum.Storage;

public sealed partial class ChunkStore
{
    /// <summary>
    /// The lock garbage collection holds: a lifecycle run or a backup holds it too, so GC never deletes a
    /// pack between their copy and their delete (which would bring a collected pack back in the other tier).
    /// </summary>
    internal SemaphoreSlim MaintenanceLock => _gcLock;

    /// <summary>Pack blob name of a chunk, or null when the index does not know it.</summary>
    internal string? PackOf(ChunkId id) => _index.TryGetValue(id, out var location) ? location.Pack.Name : null;
}
