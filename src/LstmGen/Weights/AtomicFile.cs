using System;
using System.IO;

namespace LstmGen.Weights;

/// <summary>
/// Replaces a file so that readers see the old contents or the new, never a mix: the new contents go to a temporary
/// file in the same folder (same file system, so the rename is atomic), are flushed to the disk, and the temporary
/// file is renamed over the target (rename(2) on Unix, MoveFileEx with replace on Windows).
/// </summary>
internal static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> with <paramref name="write"/>; <paramref name="wrap"/> lets tests inject failures.</summary>
    public static void Write(string path, Action<Stream> write, Func<Stream, Stream>? wrap = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(full) ?? ".";
        string temp = Path.Combine(folder, "." + Path.GetFileName(full) + "." + Guid.NewGuid().ToString("N").Substring(0, 12) + ".tmp");
        try
        {
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 16))
            {
                Stream stream = wrap is null ? file : wrap(file);
                write(stream);
                stream.Flush();
                file.Flush(flushToDisk: true);                    // fsync: the data is on disk before the rename publishes it
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }
}
