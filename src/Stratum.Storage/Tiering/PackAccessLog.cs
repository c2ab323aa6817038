using System.Collections.Concurrent;
using System.Text.Json;
using Stratum.Storage.Native;

namespace Stratum.Storage.Tiering;

/// <summary>
/// Last read time per pack, for idle-based lifecycle rules. Kept in a dictionary (one update per pack per
/// <c>resolution</c>, so the read path costs a lookup), written whole to a JSON file under the hot
/// directory's .tmp (never listed, so never mirrored to cold nor backed up) when something changed. A crash
/// loses the times recorded since the last flush: those packs then look idler than they are, which at
/// worst moves them to cold a little early, where they stay readable.
/// </summary>
internal sealed class PackAccessLog
{
    private readonly string _path;
    private readonly long _resolutionTicks;
    private readonly ConcurrentDictionary<string, long> _times = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _flushLock = new(1, 1);
    private int _dirty;

    public PackAccessLog(string path, TimeSpan resolution)
    {
        _path = path;
        _resolutionTicks = resolution.Ticks;
        Load();
    }

    public void Record(string pack, DateTimeOffset now)
    {
        var ticks = now.UtcTicks;
        if (_times.TryGetValue(pack, out var last) && ticks - last < _resolutionTicks)
        {
            return;
        }

        _times[pack] = ticks;
        Volatile.Write(ref _dirty, 1);
    }

    public DateTimeOffset? Get(string pack) => _times.TryGetValue(pack, out var ticks) ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;

    /// <summary>Drops entries of packs that no longer exist (deleted by garbage collection).</summary>
    public void Retain(IReadOnlySet<string> packs)
    {
        foreach (var name in _times.Keys)
        {
            if (!packs.Contains(name) && _times.TryRemove(name, out _))
            {
                Volatile.Write(ref _dirty, 1);
            }
        }
    }

    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _dirty, 0) == 0)
        {
            return;
        }

        await _flushLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var directory = Path.GetDirectoryName(_path)!;
            Directory.CreateDirectory(directory);
            var temporary = _path + "." + Guid.NewGuid().ToString("N") + ".tmp";
            try
            {
                await using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
                {
                    var snapshot = _times.ToArray();
                    await JsonSerializer.SerializeAsync(file, snapshot.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal), cancellationToken: cancellationToken).ConfigureAwait(false);
                    file.Flush(flushToDisk: true);
                }

                File.Move(temporary, _path, overwrite: true);
                LibC.FsyncDirectory(directory);
            }
            catch
            {
                Volatile.Write(ref _dirty, 1);
                File.Delete(temporary);
                throw;
            }
        }
        finally
        {
            _flushLock.Release();
        }
    }

    private void Load()
    {
        if (!File.Exists(_path))
        {
            return;
        }

        try
        {
            var stored = JsonSerializer.Deserialize<Dictionary<string, long>>(File.ReadAllBytes(_path));
            foreach (var (pack, ticks) in stored ?? [])
            {
                _times[pack] = ticks;
            }
        }
        catch (JsonException)
        {
            // A damaged access file only costs history: every pack falls back to its creation time.
        }
    }
}
