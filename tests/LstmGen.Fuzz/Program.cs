// Fuzzing of the safetensors loader (see FuzzHarness and RESULTS.md), or with --format guitarml / nam / rtneural of the
// GuitarML JSON reader, the Neural Amp Modeler .nam reader or the RTNeural JSON reader (JsonFuzzHarness):
//   dotnet run -c Release --project tests/LstmGen.Fuzz -- --count 1000000 [--seed 1] [--format guitarml|nam|rtneural]
// and the child process of the killed-mid-save checkpoint test:
//   dotnet LstmGen.Fuzz.dll --checkpoint-loop <path>
using System;
using System.Globalization;
using LstmGen.Fuzz;

long count = 20_000;
ulong seed = 1;
JsonFormat? json = null;
for (int k = 0; k < args.Length; k++)
{
    switch (args[k])
    {
        case "--count" when k + 1 < args.Length: count = long.Parse(args[++k], CultureInfo.InvariantCulture); break;
        case "--seed" when k + 1 < args.Length: seed = ulong.Parse(args[++k], CultureInfo.InvariantCulture); break;
        case "--checkpoint-loop" when k + 1 < args.Length: return CheckpointLoop.Run(args[++k]);
        case "--format" when k + 1 < args.Length:
            string format = args[++k];
            json = format switch { "guitarml" => JsonFormat.GuitarML, "nam" => JsonFormat.Nam, "rtneural" => JsonFormat.RTNeural, _ => null };
            if (json is null && format != "safetensors") { Console.Error.WriteLine($"unknown format '{format}'; use safetensors, guitarml, nam or rtneural"); return 2; }
            break;
        case "--repro" when k + 1 < args.Length: return FuzzHarness.Repro(Convert.FromBase64String(args[++k]));
        default: Console.Error.WriteLine($"unknown argument '{args[k]}'; use --count N, --seed S, --format F or --checkpoint-loop PATH"); return 2;
    }
}
string what = json switch { JsonFormat.GuitarML => "GuitarML JSON reader", JsonFormat.Nam => ".nam reader", JsonFormat.RTNeural => "RTNeural JSON reader", _ => "safetensors loader" };
Console.WriteLine($"fuzzing the {what}: {count:N0} mutated files, seed {seed}");
var outcome = json is { } f ? JsonFuzzHarness.Run(count, seed, Console.WriteLine, f) : FuzzHarness.Run(count, seed, Console.WriteLine);
Console.Write(outcome.Summary());
Console.WriteLine(outcome.Failures.Count == 0 ? "fuzz: passed" : "fuzz: FAILED");
return outcome.Failures.Count == 0 ? 0 : 1;
