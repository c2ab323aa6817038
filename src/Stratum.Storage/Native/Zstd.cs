using System.Runtime.InteropServices;

namespace Stratum.Storage.Native;

/// <summary>
/// zstd through the system's libzstd.so.1 (P/Invoke): no NuGet package serves zstd here (ZstdSharp is
/// missing from the mirror, issue 4), and the C library is the reference implementation, faster than a
/// managed port. Only the simple one-shot API is used; chunks are at most a few MiB.
/// </summary>
internal static unsafe partial class Zstd
{
    private const string Library = "libzstd.so.1";

    // ZSTD_CONTENTSIZE_UNKNOWN and ZSTD_CONTENTSIZE_ERROR from zstd.h.
    private const ulong ContentSizeUnknown = ulong.MaxValue;
    private const ulong ContentSizeError = ulong.MaxValue - 1;

    [LibraryImport(Library, EntryPoint = "ZSTD_compressBound")]
    private static partial nuint CompressBoundNative(nuint sourceSize);

    [LibraryImport(Library, EntryPoint = "ZSTD_compress")]
    private static partial nuint CompressNative(byte* destination, nuint destinationCapacity, byte* source, nuint sourceSize, int level);

    [LibraryImport(Library, EntryPoint = "ZSTD_decompress")]
    private static partial nuint DecompressNative(byte* destination, nuint destinationCapacity, byte* source, nuint sourceSize);

    [LibraryImport(Library, EntryPoint = "ZSTD_getFrameContentSize")]
    private static partial ulong GetFrameContentSizeNative(byte* source, nuint sourceSize);

    [LibraryImport(Library, EntryPoint = "ZSTD_isError")]
    private static partial uint IsErrorNative(nuint code);

    [LibraryImport(Library, EntryPoint = "ZSTD_getErrorName")]
    private static partial byte* GetErrorNameNative(nuint code);

    /// <summary>The most bytes compressing <paramref name="sourceSize"/> bytes can produce.</summary>
    public static int CompressBound(int sourceSize) => checked((int)CompressBoundNative((nuint)sourceSize));

    /// <summary>Compresses into <paramref name="destination"/> (at least <see cref="CompressBound"/> long); returns the compressed length.</summary>
    public static int Compress(ReadOnlySpan<byte> source, Span<byte> destination, int level)
    {
        fixed (byte* s = source)
        fixed (byte* d = destination)
        {
            return (int)Check(CompressNative(d, (nuint)destination.Length, s, (nuint)source.Length, level), "compress");
        }
    }

    /// <summary>Decompresses one frame into <paramref name="destination"/>; returns the decompressed length.</summary>
    public static int Decompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        fixed (byte* s = source)
        fixed (byte* d = destination)
        {
            return (int)Check(DecompressNative(d, (nuint)destination.Length, s, (nuint)source.Length), "decompress");
        }
    }

    /// <summary>The decompressed size recorded in the frame header, or null when it is absent or the frame is bad.</summary>
    public static long? FrameContentSize(ReadOnlySpan<byte> source)
    {
        fixed (byte* s = source)
        {
            var size = GetFrameContentSizeNative(s, (nuint)source.Length);
            return size is ContentSizeUnknown or ContentSizeError || size > long.MaxValue ? null : (long)size;
        }
    }

    private static nuint Check(nuint result, string operation)
    {
        if (IsErrorNative(result) != 0)
        {
            var name = Marshal.PtrToStringUTF8((nint)GetErrorNameNative(result)) ?? "unknown error";
            throw new InvalidDataException($"zstd {operation} failed: {name}");
        }

        return result;
    }
}
