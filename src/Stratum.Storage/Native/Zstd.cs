using System.Runtime.InteropServices;

namespace Stratum.Storage.Native;

/// <summary>
/// zstd through the system's libzstd.so.1 (P/Invoke): no NuGet package serves zstd here (ZstdSharp is
/// missing from the mirror, issue 4), and the C library is the reference implementation, faster than a
/// managed port. One-shot calls on a context kept per thread rather than ZSTD_compress/ZSTD_decompress,
/// which set one up and free it on every call: the frames are identical (IngestChecksumTests), and at
/// 1 MiB chunks the saving was within noise (bench storage --stages, docs/storage.md), but it keeps
/// small records (the 64 KiB probe, small files) from paying the set-up each time.
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

    [LibraryImport(Library, EntryPoint = "ZSTD_createCCtx")]
    private static partial nint CreateCCtxNative();

    [LibraryImport(Library, EntryPoint = "ZSTD_freeCCtx")]
    private static partial nuint FreeCCtxNative(nint context);

    [LibraryImport(Library, EntryPoint = "ZSTD_compressCCtx")]
    private static partial nuint CompressCCtxNative(nint context, byte* destination, nuint destinationCapacity, byte* source, nuint sourceSize, int level);

    [LibraryImport(Library, EntryPoint = "ZSTD_createDCtx")]
    private static partial nint CreateDCtxNative();

    [LibraryImport(Library, EntryPoint = "ZSTD_freeDCtx")]
    private static partial nuint FreeDCtxNative(nint context);

    [LibraryImport(Library, EntryPoint = "ZSTD_decompressDCtx")]
    private static partial nuint DecompressDCtxNative(nint context, byte* destination, nuint destinationCapacity, byte* source, nuint sourceSize);

    // A context serves one call at a time; each thread keeps its own. The handles free the native
    // contexts when a thread ends and its handle is finalised.
    [ThreadStatic]
    private static CompressContext? _compressContext;

    [ThreadStatic]
    private static DecompressContext? _decompressContext;

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
        var context = _compressContext ??= new CompressContext();
        fixed (byte* s = source)
        fixed (byte* d = destination)
        {
            return (int)Check(CompressCCtxNative(context.DangerousGetHandle(), d, (nuint)destination.Length, s, (nuint)source.Length, level), "compress");
        }
    }

    /// <summary>As <see cref="Compress"/>, with a context created and freed for this call (the former way; kept for the stage benchmark).</summary>
    public static int CompressOneShot(ReadOnlySpan<byte> source, Span<byte> destination, int level)
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
        var context = _decompressContext ??= new DecompressContext();
        fixed (byte* s = source)
        fixed (byte* d = destination)
        {
            return (int)Check(DecompressDCtxNative(context.DangerousGetHandle(), d, (nuint)destination.Length, s, (nuint)source.Length), "decompress");
        }
    }

    /// <summary>As <see cref="Decompress"/>, with a context created and freed for this call (the former way; kept for the stage benchmark).</summary>
    public static int DecompressOneShot(ReadOnlySpan<byte> source, Span<byte> destination)
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

    private sealed class CompressContext : SafeHandle
    {
        public CompressContext()
            : base(0, ownsHandle: true)
        {
            SetHandle(CreateCCtxNative());
            if (IsInvalid)
            {
                throw new OutOfMemoryException("ZSTD_createCCtx failed");
            }
        }

        public override bool IsInvalid => handle == 0;

        protected override bool ReleaseHandle()
        {
            _ = FreeCCtxNative(handle);
            return true;
        }
    }

    private sealed class DecompressContext : SafeHandle
    {
        public DecompressContext()
            : base(0, ownsHandle: true)
        {
            SetHandle(CreateDCtxNative());
            if (IsInvalid)
            {
                throw new OutOfMemoryException("ZSTD_createDCtx failed");
            }
        }

        public override bool IsInvalid => handle == 0;

        protected override bool ReleaseHandle()
        {
            _ = FreeDCtxNative(handle);
            return true;
        }
    }
}
