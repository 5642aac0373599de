using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using LstmGen.Training;
using LstmGen.Weights;
using Xunit;
using Xunit.Abstractions;

namespace LstmGen.Tests.Weights;

/// <summary>Checkpoints: training resumes bit for bit, and a save interrupted at any point leaves the previous checkpoint loadable.</summary>
public sealed class CheckpointTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("lstmgen-ckpt-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static float[] Xs => Models.Inputs(20 * 8, 1);
    private static float[] Ys => Models.Inputs(20, 2);

    public static TheoryData<string> Optimizers() => new() { "Adam", "AdamW", "Sgd" };

    private static Optimizer Create(string kind) => kind switch
    {
        "Adam" => new Adam(1e-2f),
        "AdamW" => new AdamW(1e-2f),
        _ => new Sgd(1e-2f, momentum: 0.9f),
    };

    [Theory]
    [MemberData(nameof(Optimizers))]
    public void TrainingResumesBitForBitFromACheckpoint(string kind)
    {
        string path = Path.Combine(_folder, "train.ckpt");
        var model = new Head_8_32_2_1(seed: 1);
        var optimizer = Create(kind);
        var trainer = model.CreateTrainer(optimizer, Loss.MeanSquaredError, maxSequenceLength: 20);
        for (int k = 0; k < 3; k++) trainer.Step(Xs, Ys);
        Checkpoint.Save(path, model.Parameters, optimizer, new Dictionary<string, string> { ["epoch"] = "3" });
        for (int k = 0; k < 2; k++) trainer.Step(Xs, Ys);

        var resumed = new Head_8_32_2_1(seed: 2);
        var optimizer2 = Create(kind);
        var trainer2 = resumed.CreateTrainer(optimizer2, Loss.MeanSquaredError, maxSequenceLength: 20);
        var info = Checkpoint.Load(path, resumed.Parameters, optimizer2);
        Assert.Equal(3, info.StepCount);
        Assert.Equal(3, optimizer2.StepCount);
        Assert.Equal(kind, info.Optimizer);
        Assert.Equal("3", info.Metadata["epoch"]);
        for (int k = 0; k < 2; k++) trainer2.Step(Xs, Ys);
        Assert.Equal(model.Parameters.Values.ToArray(), resumed.Parameters.Values.ToArray());
        Assert.Equal(optimizer.State.ToArray(), optimizer2.State.ToArray());

        // The weights of a checkpoint are an ordinary safetensors file with one extra tensor.
        var weightsOnly = new Head_8_32_2_1(seed: 3);
        Safetensors.Load(path, weightsOnly.Parameters, new SafetensorsOptions { AllowExtraTensors = true });
    }

    [Fact]
    public void CheckpointThatDoesNotFitIsRefused()
    {
        string path = Path.Combine(_folder, "adam.ckpt");
        var model = new Head_8_32_2_1(seed: 1);
        var adam = new Adam();
        model.CreateTrainer(adam, Loss.MeanSquaredError, maxSequenceLength: 20);
        Checkpoint.Save(path, model.Parameters, adam);

        var e = Assert.Throws<WeightsFormatException>(() => Checkpoint.Load(path, new Head_8_32_2_1(seed: 1).Parameters, new Sgd(0.1f, momentum: 0.5f)));
        Assert.Equal(WeightsErrorKind.InvalidCheckpoint, e.Kind);
        Assert.Equal("lstmgen.optimizer", e.Field);
        Assert.Contains("Adam", e.Message);

        var other = Assert.Throws<WeightsFormatException>(() => Checkpoint.Load(path, new Lstm_8_32_2(seed: 1).Parameters));
        Assert.Equal("lstmgen.parameter_count", other.Field);

        string plain = Path.Combine(_folder, "plain.safetensors");
        model.Parameters.SaveSafetensors(plain);
        var notCheckpoint = Assert.Throws<WeightsFormatException>(() => Checkpoint.Load(plain, model.Parameters));
        Assert.Equal("lstmgen.format", notCheckpoint.Field);

        var writer = Safetensors.CreateWriter(model.Parameters);
        foreach (var (k, v) in new Dictionary<string, string> { ["lstmgen.format"] = "checkpoint", ["lstmgen.format_version"] = "2", ["lstmgen.optimizer"] = "none", ["lstmgen.step_count"] = "0", ["lstmgen.parameter_count"] = model.Parameters.Count.ToString(System.Globalization.CultureInfo.InvariantCulture) })
            writer.Metadata[k] = v;
        var future = Assert.Throws<WeightsFormatException>(() => Checkpoint.Load(writer.ToArray(), model.Parameters));
        Assert.Equal("lstmgen.format_version", future.Field);
        Assert.Contains("version 2", future.Message);
    }

    /// <summary>A stream that fails after a given number of bytes, as a full disk or a pulled cable would.</summary>
    private sealed class FailingStream(Stream inner, long failAfter) : Stream
    {
        private long _written;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _written; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            long room = failAfter - _written;
            if (room < buffer.Length)
            {
                inner.Write(buffer.Slice(0, (int)Math.Max(0, room)));
                _written = failAfter;
                throw new IOException($"injected failure after {failAfter} bytes");
            }
            inner.Write(buffer);
            _written += buffer.Length;
        }
    }

    [Fact]
    public void SaveInterruptedAtAnyPointLeavesThePreviousCheckpoint()
    {
        string path = Path.Combine(_folder, "model.ckpt");
        var model = new Head_8_32_2_1(seed: 1);
        var adam = new Adam();
        var trainer = model.CreateTrainer(adam, Loss.MeanSquaredError, maxSequenceLength: 20);
        trainer.Step(Xs, Ys);
        Checkpoint.Save(path, model.Parameters, adam);
        float[] saved = model.Parameters.Values.ToArray();
        byte[] original = File.ReadAllBytes(path);

        trainer.Step(Xs, Ys);                     // new values the failed saves try to write
        long full = original.Length;
        foreach (long failAfter in new[] { 0L, 1, 7, 8, 100, 1000, full / 2, full - 1 })
        {
            var e = Assert.Throws<IOException>(() => Checkpoint.Save(path, model.Parameters, adam, null, s => new FailingStream(s, failAfter)));
            Assert.Contains("injected", e.Message);
            Assert.Equal(original, File.ReadAllBytes(path));
            var check = new Head_8_32_2_1(seed: 9);
            var adam2 = new Adam();
            var info = Checkpoint.Load(path, check.Parameters, adam2);
            Assert.Equal(1, info.StepCount);
            Assert.Equal(saved, check.Parameters.Values.ToArray());
            Assert.Equal(new[] { "model.ckpt" }, Directory.GetFiles(_folder).Select(Path.GetFileName));   // no temporary file left
        }
        Checkpoint.Save(path, model.Parameters, adam);           // and a save that completes replaces it
        Assert.Equal(2, Checkpoint.Load(path, new Head_8_32_2_1().Parameters, new Adam()).StepCount);
    }

    /// <summary>
    /// A child process saves checkpoints of 4 M parameters in a loop (each save about 16 MB, every value = the save's
    /// number); it is killed at random moments. After every kill the checkpoint loads, whole, with one save's values.
    /// </summary>
    [Fact]
    public void CheckpointSurvivesAProcessKilledMidSave()
    {
        string path = Path.Combine(_folder, "killed.ckpt");
        string tests = AppContext.BaseDirectory;
        string helper = typeof(LstmGen.Fuzz.CheckpointLoop).Assembly.Location;
        var random = new Random(5);
        int kills = 0, loads = 0;
        for (int round = 0; round < 6; round++)
        {
            var start = new ProcessStartInfo("dotnet")
            {
                ArgumentList = { "exec", "--runtimeconfig", Path.Combine(tests, "LstmGen.Tests.runtimeconfig.json"), "--depsfile", Path.Combine(tests, "LstmGen.Tests.deps.json"), helper, "--checkpoint-loop", path },
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            using var child = Process.Start(start)!;
            string? first = child.StandardOutput.ReadLine();    // "saved 1": there is a previous checkpoint from now on
            Assert.StartsWith("saved", first);
            Thread.Sleep(random.Next(20, 400));
            Assert.False(child.HasExited, "the checkpoint loop ended by itself");
            child.Kill();
            child.WaitForExit();
            kills++;

            var parameters = LstmGen.Fuzz.CheckpointLoop.CreateParameters();
            var info = Checkpoint.Load(path, parameters);
            int version = int.Parse(info.Metadata["save"], System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(version >= 1);
            Assert.All(new[] { 0, parameters.Count / 2, parameters.Count - 1 }, k => Assert.Equal(version, parameters.Values[k]));
            Assert.True(parameters.Values.ToArray().All(v => v == version), "a checkpoint mixes two saves");
            loads++;
            output.WriteLine($"round {round}: killed during the loop; checkpoint of save {version} loads whole; temporary files left: {Directory.GetFiles(_folder, "*.tmp", SearchOption.TopDirectoryOnly).Length + Directory.GetFiles(_folder, ".*").Length}");
            foreach (var temp in Directory.GetFiles(_folder, ".*")) File.Delete(temp);   // what a killed save leaves behind
        }
        Assert.Equal(6, kills);
        Assert.Equal(6, loads);
    }
}
